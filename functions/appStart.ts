import { app } from '@azure/functions';

// Settings are validated when the app starts, not at the first event: a bad one fails start-up naming it.
// Only the settings are read here; the SDKs load when a function first needs them.
app.hook.appStart(async () => {
  (await import('../shared/app')).services();
});

// On a graceful shutdown (scale-in, a new deployment) the metrics not yet exported go out instead of being lost.
app.hook.appTerminate(async () => {
  await (await import('../shared/telemetry/runtime')).shutdownTelemetry();
});
