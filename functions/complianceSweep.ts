import { app } from '@azure/functions';

// Timer (SWEEP_SCHEDULE): the compliance sweep; a run that is past due still runs, once.
app.timer('complianceSweep', {
  schedule: '%SWEEP_SCHEDULE%',
  runOnStartup: false,
  useMonitor: true,
  handler: async (timer, context) => (await import('../shared/handlers/complianceSweep')).complianceSweep(timer, context),
});
