// The layering, checked by `npm run lint:deps` (part of `npm test`): the domain is pure, use cases speak to ports,
// adapters alone touch the Azure SDKs, production code never reaches into dev/, and nothing depends on itself in a circle.

/** Any Azure SDK package; @azure/functions is the Functions runtime's programming model, not an SDK. */
const AZURE_SDK = '(^|/)node_modules/@azure/(?!functions/)';
const PRODUCTION = '^(functions|shared|cli)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment:
        'shared/domain holds the rules as plain TypeScript: it imports only itself and Node built-ins (no @azure/*, no adapters, ' +
        'no shared/http, no zod or its loader shared/lazy.ts; wire schemas live in shared/messages and shared/http).',
      severity: 'error',
      from: { path: '^shared/domain/' },
      to: { pathNot: '^shared/domain/', dependencyTypesNot: ['core'] },
    },
    {
      name: 'use-cases-speak-to-ports',
      comment: 'shared/usecases reach Azure through the ports only: no Azure package (not even @azure/functions), no adapter (the composition hands them in) and no HTTP edge.',
      severity: 'error',
      from: { path: '^shared/usecases/' },
      to: { path: ['(^|/)node_modules/@azure/', '^shared/adapters/', '^shared/http/'] },
    },
    {
      name: 'azure-sdks-only-in-adapters',
      comment:
        'Only shared/adapters import an Azure SDK (types included): the composition root, handlers, triggers and the CLI get ' +
        'clients and credentials from adapters. @azure/functions is the next rule\'s.',
      severity: 'error',
      from: { path: PRODUCTION, pathNot: '^shared/adapters/' },
      to: { path: AZURE_SDK },
    },
    {
      name: 'adapters-below-use-cases',
      comment: 'shared/adapters implement the ports: they import the domain, the ports and each other, never a use case, a handler or the HTTP edge.',
      severity: 'error',
      from: { path: '^shared/adapters/' },
      to: { path: '^shared/(usecases|handlers|http)/' },
    },
    {
      name: 'functions-runtime-at-the-edge',
      comment: '@azure/functions only where the runtime meets the code: the trigger registrations, the handlers, the HTTP edge and the invocation logger.',
      severity: 'error',
      from: { path: '^shared/', pathNot: ['^shared/(handlers|http)/', '^shared/logging\\.ts$'] },
      to: { path: '(^|/)node_modules/@azure/functions/' },
    },
    {
      name: 'production-never-imports-dev',
      comment: 'functions/, shared/ and cli/ ship; dev/ (the local stand-ins, demo, bench) does not.',
      severity: 'error',
      from: { path: PRODUCTION },
      to: { path: '^dev/' },
    },
    {
      name: 'no-circular',
      comment: 'Production modules form no import cycle: each layer can be read, loaded and tested on its own.',
      severity: 'error',
      from: { path: PRODUCTION },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    // Type-only imports count: a type from an SDK couples a layer to it as much as a value does.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['require', 'node', 'default', 'types'] },
  },
};
