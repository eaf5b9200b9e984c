import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { TableStorage } from '../../shared/adapters/tables/storage';

/**
 * Table Storage whose next `writes` successful writes commit and then lose their answers (the connection drops
 * before it), so that the SDK's retry sends each again: as after a reset or a timeout in Azure.
 */
export function losingAnswers(connectionString: string): { storage: TableStorage; lose: (writes: number) => void } {
  let answersToLose = 0;
  const storage = new TableStorage({ connectionString }, {
    retryOptions: { retryDelayInMs: 5, maxRetryDelayInMs: 20 },
    additionalPolicies: [{
      position: 'perRetry',
      policy: {
        name: 'lose-an-answer',
        async sendRequest(request, next) {
          const response = await next(request);
          if (request.method === 'GET' || response.status >= 300 || answersToLose === 0) return response;
          answersToLose -= 1;
          throw Object.assign(new Error('socket hang up'), { name: 'RestError', code: 'ECONNRESET', request });
        },
      },
    }],
  });
  return { storage, lose: (writes) => void (answersToLose = writes) };
}

/** Table Storage with one policy on every call and no retries: a test's own fault or race, exactly where it puts it. */
export function storageWith(connectionString: string, name: string, sendRequest: PipelinePolicy['sendRequest']): TableStorage {
  return new TableStorage({ connectionString }, { retryOptions: { maxRetries: 0 }, additionalPolicies: [{ position: 'perCall', policy: { name, sendRequest } }] });
}
