/**
 * v3, once no run started on v1 remains open: the v1 branch goes, `deprecatePatch` keeps the
 * marker so histories recorded by v2 (and v2 workers, should v3 be rolled back) still agree.
 */
import { deprecatePatch, proxyActivities } from '@temporalio/workflow';
import type * as activities from './activities';

const { sendEmail } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });

export async function notifyCustomer(name: string): Promise<string> {
  deprecatePatch('email-not-letter');
  return sendEmail(name);
}
