import type { InvocationContext, Timer } from '@azure/functions';
import { services } from '../app';
import { traced } from '../logging';
import { sweepOnce } from '../usecases/sweepOnce';

/** Timer (SWEEP_SCHEDULE): audits every CMK-bound account; a run that is past due still runs, once. */
export async function complianceSweep(timer: Timer, context: InvocationContext): Promise<void> {
  const s = services();
  const sweepId = s.newId();
  await traced(context, { name: 'cmk.sweep', attributes: { 'cmk.sweep.id': sweepId, 'cmk.trigger': 'timer' } }, async (log) => {
    if (timer.isPastDue) log.event('sweep.past-due', {});
    await sweepOnce(sweepId, 'timer', s, log);
  });
}
