import { app, type HttpHandler } from '@azure/functions';

// The compliance report and a sweep on demand. Each route's code loads on its first request.
const route = (name: 'getCompliance' | 'startSweep'): HttpHandler => async (request, context) => {
  const [{ withProblems }, handlers] = await Promise.all([import('../shared/http/problem'), import('../shared/handlers/compliance')]);
  return withProblems(handlers[name])(request, context);
};

app.http('complianceGet', { route: 'compliance', methods: ['GET'], authLevel: 'function', handler: route('getCompliance') });
app.http('complianceSweepsCreate', { route: 'compliance/sweeps', methods: ['POST'], authLevel: 'function', handler: route('startSweep') });
