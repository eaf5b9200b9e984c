// The audit's progress on stderr: one line redrawn in place with counts and an ETA on a terminal, plain lines elsewhere.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuditProgress } from '../../cli/progress';
import { captured } from '../support/cli';

/** Back to the line's start and clear it: how a terminal line is redrawn. */
const CLEAR = '\r\u001b[2K';

describe('audit progress', () => {
  it('on a terminal: counts while discovering, then an ETA from the pace so far', () => {
    let now = 0;
    const out = captured(true);
    const progress = new AuditProgress(out, () => now);
    progress.discovered(100);
    assert.ok(out.text.endsWith(`${CLEAR}discovering: 100 accounts found, 0 judged, 0 Key Vault reads`), JSON.stringify(out.text));
    assert.doesNotMatch(out.text, /ETA/, 'no ETA while the total is unknown');
    progress.discovered(100);
    progress.discoveryDone();
    for (let i = 0; i < 50; i++) {
      now += 200;
      progress.judged();
    }
    // 50 accounts in 10 s, 150 to go: 30 s.
    assert.match(out.text, /judging: 200 accounts found, 50 judged, 0 Key Vault reads, ETA 30 s$/);
    progress.finish();
    assert.ok(out.text.endsWith(`${CLEAR}read 200 accounts (50 judged), 0 Key Vault reads in 10.0 s\n`), JSON.stringify(out.text));
  });

  it('elsewhere: a line per discovered page and one at the end, no control characters', () => {
    const out = captured(false);
    const progress = new AuditProgress(out, () => 0);
    progress.discovered(3);
    progress.keyRead();
    progress.judged();
    progress.discoveryDone();
    progress.finish();
    assert.equal(out.text, 'discovery: page 1, 3 CMK-bound accounts so far\ndiscovery: done, 3 CMK-bound accounts\nread 3 accounts (1 judged), 1 Key Vault reads in 0.0 s\n');
  });
});
