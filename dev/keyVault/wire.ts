import type { KeyEntry, KeyVersion, RotationPolicy } from './model';

/** An error the vault answers with, in Key Vault's `{"error":{code,message,innererror}}` shape. */
export class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
    this.name = 'VaultError';
  }

  toBody(): object {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.innerCode ? { innererror: { code: this.innerCode } } : {}),
      },
    };
  }
}

export function keyNotFound(nameOrId: string): VaultError {
  return new VaultError(
    404,
    'KeyNotFound',
    `A key with (name/id) ${nameOrId} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
}

export function badParameter(message: string): VaultError {
  return new VaultError(400, 'BadParameter', message);
}

/** How the vault renders its objects: ids under its own URI, times in epoch seconds. */
export class Wire {
  constructor(
    private readonly vaultUri: () => string,
    private readonly recoveryLevel: string,
    private readonly recoverableDays: number | undefined,
  ) {}

  kid(name: string, version?: string): string {
    return `${this.vaultUri()}keys/${name}${version ? '/' + version : ''}`;
  }

  attributes(v: KeyVersion): object {
    return {
      enabled: v.enabled,
      ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
      ...(v.exp !== undefined ? { exp: v.exp } : {}),
      created: v.created,
      updated: v.updated,
      ...(this.recoverableDays !== undefined ? { recoverableDays: this.recoverableDays } : {}),
      recoveryLevel: this.recoveryLevel,
    };
  }

  /** KeyBundle: the public JWK plus attributes (GetKey, CreateKey, RotateKey, UpdateKey). */
  bundle(entry: KeyEntry, v: KeyVersion): object {
    return {
      key: { kid: this.kid(entry.name, v.version), kty: v.kty, key_ops: [...v.keyOps], ...v.material },
      attributes: this.attributes(v),
      ...(v.tags ? { tags: { ...v.tags } } : {}),
    };
  }

  /** KeyItem: no key material; `versioned` for GetKeyVersions, the bare key id for GetKeys. */
  item(entry: KeyEntry, v: KeyVersion, versioned: boolean): object {
    return {
      kid: this.kid(entry.name, versioned ? v.version : undefined),
      attributes: this.attributes(v),
      ...(v.tags ? { tags: { ...v.tags } } : {}),
    };
  }

  rotationPolicy(entry: KeyEntry, policy: RotationPolicy | undefined): object {
    // A key that never had a policy answers the service default: Notify 30 days before expiry, no id.
    if (!policy) {
      return {
        lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } }],
        attributes: {},
      };
    }
    return {
      id: `${this.kid(entry.name)}/rotationpolicy`,
      lifetimeActions: policy.lifetimeActions.map((a) => ({ trigger: { ...a.trigger }, action: { ...a.action } })),
      attributes: {
        ...(policy.expiryTime !== undefined ? { expiryTime: policy.expiryTime } : {}),
        created: policy.created,
        updated: policy.updated,
      },
    };
  }
}
