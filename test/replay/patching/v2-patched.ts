/**
 * v2: email instead of a letter. Runs started on v1 are still open, so the change is patched:
 * a history without the `email-not-letter` marker replays the v1 branch; new runs record the marker.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type * as activities from './activities';

const { sendEmail, sendLetter } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });

export async function notifyCustomer(name: string): Promise<string> {
  if (patched('email-not-letter')) return sendEmail(name);
  return sendLetter(name);
}
