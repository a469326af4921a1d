/**
 * v4: the change with no patch call. Deployed while runs started on v1 are open, it breaks them
 * (their history schedules a letter); deployed once every open run was started on v3, it is the end.
 */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from './activities';

const { sendEmail } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });

export async function notifyCustomer(name: string): Promise<string> {
  return sendEmail(name);
}
