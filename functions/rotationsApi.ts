import { app, type HttpHandler } from '@azure/functions';

// Manual operations (DESIGN §6). Each route's code loads on its first request.
type Route = 'createRotation' | 'listRotations' | 'getRotation' | 'releasePin' | 'changeEncryption';
const route = (name: Route): HttpHandler => async (request, context) => {
  const [{ withProblems }, handlers] = await Promise.all([import('../shared/http/problem'), import('../shared/handlers/rotations')]);
  return withProblems(handlers[name])(request, context);
};

app.http('rotationsCreate', { route: 'rotations', methods: ['POST'], authLevel: 'function', handler: route('createRotation') });
app.http('rotationsList', { route: 'rotations', methods: ['GET'], authLevel: 'function', handler: route('listRotations') });
app.http('rotationsGet', { route: 'rotations/{jobId}', methods: ['GET'], authLevel: 'function', handler: route('getRotation') });
app.http('accountsPinDelete', { route: 'accounts/pin', methods: ['DELETE'], authLevel: 'function', handler: route('releasePin') });
app.http('accountsEncryption', { route: 'accounts/encryption', methods: ['POST'], authLevel: 'function', handler: route('changeEncryption') });
