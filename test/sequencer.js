/**
 * Longest test files first, so that two jest workers finish together instead of one long file
 * running alone at the end. Seconds are per file on the CI host (2 cores, two files at a time);
 * files not listed are short and follow, largest first. A new file that starts pipelines belongs here.
 */
const path = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

const SECONDS = {
  'test/workflows/durable-training.test.ts': 310,
  'test/workflows/finetune-pipeline.test.ts': 305,
  'test/ops/run-wait.test.ts': 190,
  'test/ops/broken-inputs.test.ts': 180,
  'test/ops/security.test.ts': 180,
  'test/workflows/temporal-restart.test.ts': 160,
  'test/workflows/object-storage.test.ts': 160,
  'test/integration/multi-node-train.test.ts': 150,
  'test/integration/start-from-champion.test.ts': 140,
  'test/workflows/mlflow-outage.test.ts': 130,
  'test/integration/storage-faults.test.ts': 115,
  'test/workflows/bulk-summarize.test.ts': 90,
  'test/integration/plan.test.ts': 80,
  'test/ops/temporal-ui.test.ts': 75,
  'test/integration/serve.test.ts': 50,
  'test/unit/summarize-text.test.ts': 50,
};

class LongestFirst extends Sequencer {
  sort(tests) {
    const seconds = (test) => SECONDS[path.relative(test.context.config.rootDir, test.path)] ?? 0;
    const size = (test) => test.context.hasteFS.getSize(test.path) ?? 0;
    return [...tests].sort((a, b) => seconds(b) - seconds(a) || size(b) - size(a));
  }
}

module.exports = LongestFirst;
