/** v1, as released: the customer gets a letter. */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from './activities';

const { sendLetter } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });

export async function notifyCustomer(name: string): Promise<string> {
  return sendLetter(name);
}
