// Unit tests of src/policy.js in Node, without wasm: requests shaped as the component sees
// them. `npm test`; the component itself is tested with `portcullis test tests/`.
import test from 'node:test';
import assert from 'node:assert/strict';
import { metadata, settingsSchema, validate, validateSettings } from '../src/policy.js';

const image = (raw, tag, digest) => ({
  raw, registry: 'docker.io', repository: 'library/nginx', tag, digest, valid: true,
});
const pod = (img) => ({
  source: 'kubernetes',
  workload: { containers: [{ name: 'web', kind: 'container', pointer: '/spec/containers/0', image: img }] },
});
const dockerRun = (img) => ({
  source: 'docker',
  workload: { containers: [{ name: '', kind: 'container', pointer: '', image: img }] },
});

test('both doors', () => assert.deepEqual(metadata().sources, ['kubernetes', 'docker']));

test('latest and untagged images are denied, with the field', () => {
  for (const img of [image('nginx'), image('nginx:latest', 'latest')]) {
    const d = validate(pod(img), '{}');
    assert.equal(d.allowed, false);
    assert.equal(d.reasons[0].field, 'spec.containers[0].image');
  }
  assert.equal(validate(dockerRun(image('nginx')), '{}').reasons[0].field, 'Image');
});

test('tagged and pinned images pass', () => {
  assert.ok(validate(pod(image('nginx:1.27', '1.27')), '{}').allowed);
  assert.ok(validate(dockerRun(image('nginx@sha256:0', undefined, 'sha256:0')), '{}').allowed);
});

test('exempt prefixes pass; empty ones are refused', () => {
  assert.ok(validate(pod(image('nginx')), '{"exemptImages":["docker.io/library/"]}').allowed);
  assert.throws(() => validateSettings('{"exemptImages":[" "]}'), { field: 'exemptImages[0]' });
  assert.equal(JSON.parse(settingsSchema()).properties.exemptImages.type, 'array');
});
