/** The ARM routes the stand-in serves; ARM matches paths case-insensitively. */
export type ArmRoute =
  | { kind: 'accountsInSubscription'; subscription: string }
  | { kind: 'accountsInResourceGroup'; subscription: string; resourceGroup: string }
  | { kind: 'account'; subscription: string; resourceGroup: string; name: string }
  | { kind: 'encryptionScopes'; subscription: string; resourceGroup: string; account: string }
  | { kind: 'encryptionScope'; subscription: string; resourceGroup: string; account: string; name: string }
  | { kind: 'operationResult'; subscription: string; location: string; operationId: string }
  | { kind: 'vault'; subscription: string; resourceGroup: string; name: string }
  | { kind: 'vaultsInSubscription'; subscription: string }
  | { kind: 'managedHsm'; subscription: string; resourceGroup: string; name: string }
  | { kind: 'managedHsmsInSubscription'; subscription: string }
  /** Role assignments listed for any scope (the path before /providers/Microsoft.Authorization; '' is the tenant root). */
  | { kind: 'roleAssignments'; scope: string }
  | { kind: 'roleDefinition'; scope: string; name: string }
  | { kind: 'resourceGraph' };

const seg = '([^/]+)';
const sub = `/subscriptions/${seg}`;
const rg = `${sub}/resourcegroups/${seg}`;
const cs = 'providers/microsoft\\.cognitiveservices';

const patterns: Array<[RegExp, (m: string[]) => ArmRoute]> = [
  [route('/providers/microsoft\\.resourcegraph/resources'), () => ({ kind: 'resourceGraph' })],
  [route(`${sub}/${cs}/accounts`), (m) => ({ kind: 'accountsInSubscription', subscription: at(m, 1) })],
  [
    route(`${rg}/${cs}/accounts`),
    (m) => ({ kind: 'accountsInResourceGroup', subscription: at(m, 1), resourceGroup: at(m, 2) }),
  ],
  [
    route(`${rg}/${cs}/accounts/${seg}`),
    (m) => ({ kind: 'account', subscription: at(m, 1), resourceGroup: at(m, 2), name: at(m, 3) }),
  ],
  [
    route(`${rg}/${cs}/accounts/${seg}/encryptionscopes`),
    (m) => ({ kind: 'encryptionScopes', subscription: at(m, 1), resourceGroup: at(m, 2), account: at(m, 3) }),
  ],
  [
    route(`${rg}/${cs}/accounts/${seg}/encryptionscopes/${seg}`),
    (m) => ({ kind: 'encryptionScope', subscription: at(m, 1), resourceGroup: at(m, 2), account: at(m, 3), name: at(m, 4) }),
  ],
  [
    route(`${sub}/${cs}/locations/${seg}/operationresults/${seg}`),
    (m) => ({ kind: 'operationResult', subscription: at(m, 1), location: at(m, 2), operationId: at(m, 3) }),
  ],
  [route(`${sub}/providers/microsoft\\.keyvault/vaults`), (m) => ({ kind: 'vaultsInSubscription', subscription: at(m, 1) })],
  [route(`${sub}/providers/microsoft\\.keyvault/managedhsms`), (m) => ({ kind: 'managedHsmsInSubscription', subscription: at(m, 1) })],
  [
    route(`${rg}/providers/microsoft\\.keyvault/managedhsms/${seg}`),
    (m) => ({ kind: 'managedHsm', subscription: at(m, 1), resourceGroup: at(m, 2), name: at(m, 3) }),
  ],
  [route('(.*?)/providers/microsoft\\.authorization/roleassignments'), (m) => ({ kind: 'roleAssignments', scope: at(m, 1) })],
  [route(`(.*?)/providers/microsoft\\.authorization/roledefinitions/${seg}`), (m) => ({ kind: 'roleDefinition', scope: at(m, 1), name: at(m, 2) })],
  [
    route(`${rg}/providers/microsoft\\.keyvault/vaults/${seg}`),
    (m) => ({ kind: 'vault', subscription: at(m, 1), resourceGroup: at(m, 2), name: at(m, 3) }),
  ],
];

function route(source: string): RegExp {
  return new RegExp(`^${source}/?$`, 'i');
}

function at(match: string[], index: number): string {
  return decodeURIComponent(match[index] ?? '');
}

export function parseArmPath(pathname: string): ArmRoute | undefined {
  for (const [pattern, build] of patterns) {
    const match = pattern.exec(pathname);
    if (match) return build([...match]);
  }
  return undefined;
}

/** The subscription a request counts against for throttling ('' outside /subscriptions). */
export function subscriptionOf(pathname: string): string {
  return (/^\/subscriptions\/([^/]+)/i.exec(pathname)?.[1] ?? '').toLowerCase();
}

/** A resource id's lookup key: ARM ids compare case-insensitively, without a trailing slash. */
export function resourceKey(id: string): string {
  return id.replace(/\/+$/, '').toLowerCase();
}

interface ResourceIdParts {
  subscription: string;
  resourceGroup: string;
  name: string;
}

type ResourceType = 'Microsoft.CognitiveServices/accounts' | 'Microsoft.KeyVault/vaults' | 'Microsoft.KeyVault/managedHSMs';

export function parseResourceId(id: string, type: ResourceType): ResourceIdParts {
  const [namespace, resourceType] = type.split('/');
  const pattern = new RegExp(`^${rg}/providers/${namespace?.replace('.', '\\.')}/${resourceType}/${seg}/?$`, 'i');
  const match = pattern.exec(id);
  if (!match) throw new Error(`Not a ${type} resource id: ${id}`);
  return { subscription: at([...match], 1), resourceGroup: at([...match], 2), name: at([...match], 3) };
}

export function resourceId(type: ResourceType, subscription: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscription}/resourceGroups/${resourceGroup}/providers/${type}/${name}`;
}

/** ARM location names are lower case without spaces ("West US" -> "westus"). */
export function normaliseLocation(location: string): string {
  return location.replace(/\s+/g, '').toLowerCase();
}
