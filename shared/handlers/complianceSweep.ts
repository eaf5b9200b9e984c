import type { InvocationContext, Timer } from '@azure/functions';
import { services } from '../app';
import { invocationLogger } from '../logging';
import { sweepOnce } from '../usecases/sweep';

/** Timer (SWEEP_SCHEDULE): audits every CMK-bound account; a run that is past due still runs, once. */
export async function complianceSweep(timer: Timer, context: InvocationContext): Promise<void> {
  const s = services();
  const log = invocationLogger(context);
  if (timer.isPastDue) log.warn('Sweep is past due (the app was idle or restarting); running it now');
  await sweepOnce(s.newId(), 'timer', s, log);
}
