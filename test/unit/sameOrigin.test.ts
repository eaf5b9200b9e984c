import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHttpHeaders, createPipelineRequest, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { sameOriginPolicy } from '../../shared/adapters/sameOrigin';
import { DependencyError } from '../../shared/errors';

/** Sends `url` through the policy; what reached the next policy, or the refusal. */
async function send(endpoint: string, url: string): Promise<{ sent: string[]; refusal?: DependencyError }> {
  const sent: string[] = [];
  const next = async (request: PipelineRequest): Promise<PipelineResponse> => {
    sent.push(request.url);
    return { status: 200, headers: createHttpHeaders(), request };
  };
  try {
    await sameOriginPolicy(endpoint, 'arm').sendRequest(createPipelineRequest({ url }), next);
    return { sent };
  } catch (error) {
    if (!(error instanceof DependencyError)) throw error;
    return { sent, refusal: error };
  }
}

describe('the same-origin policy: scheme, host and port of the client endpoint, default ports normalised', () => {
  const arm = 'https://management.azure.com';

  for (const url of [`${arm}:443/subscriptions/s/providers/x?api-version=1&$skiptoken=t`, 'HTTPS://Management.Azure.COM/subscriptions', `${arm}/`]) {
    it(`lets ${url} through`, async () => {
      assert.deepEqual(await send(arm, url), { sent: [url] });
    });
  }

  const refused: Array<[string, string]> = [
    ['http://management.azure.com/subscriptions', 'http://management.azure.com'],
    ['https://management.azure.com:8443/subscriptions', 'https://management.azure.com:8443'],
    ['https://management.azure.com.evil.example/subscriptions', 'https://management.azure.com.evil.example'],
    ['https://management.azure.com@evil.example/subscriptions', 'https://evil.example'],
  ];
  for (const [url, origin] of refused) {
    it(`refuses ${url}, naming ${origin}`, async () => {
      const { sent, refusal } = await send(arm, url);
      assert.deepEqual(sent, []);
      assert.equal(refusal?.code, 'untrusted-url');
      assert.ok(refusal?.message.includes(`${origin}:`), refusal?.message);
    });
  }

  it('an endpoint with its own port admits that port only', async () => {
    const vault = 'https://127.0.0.1:8443/';
    assert.deepEqual((await send(vault, 'https://127.0.0.1:8443/keys/cmk/versions')).sent, ['https://127.0.0.1:8443/keys/cmk/versions']);
    assert.equal((await send(vault, 'https://127.0.0.1/keys/cmk/versions')).refusal?.code, 'untrusted-url');
  });

  it('the refusal is final and says only where: no path, query or token of the link', async () => {
    const { refusal } = await send(arm, 'https://evil.example:8443/steal/path?api-version=1&sig=secret-token');
    assert.equal(refusal?.message, `refused to send a request to https://evil.example:8443: this client calls only ${arm}`);
    // Not "not applied": a refused operation URL comes after its PATCH was sent, and says nothing of it.
    assert.deepEqual([refusal?.retryable, refusal?.notApplied === true, refusal?.dependency], [false, false, 'arm']);
  });
});
