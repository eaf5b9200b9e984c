import { app } from '@azure/functions';
import { services } from '../shared/app';

// Settings are validated when the app starts, not at the first event: a bad one fails start-up naming it.
app.hook.appStart(() => {
  services();
});
