// The raw recordings are memory-backed and processed beside Janus: every Janus pod keeps its raw folder in an
// emptyDir of medium Memory (plaintext media never reaches a disk) and runs the recording processor (the recording
// service with HAVEN_RECORDING_ROLE=processor for that node) sharing it; the recording Deployment serves the API
// and playback only. Rendered with the real helm and read as the processes would: each processor's environment
// passes the recording service's own configuration schema, names the Janus node the session service calls that
// node, points only at mounted files, and the NetworkPolicies let it reach NATS.
import { loadConfig } from '@haven/service';
import { recordingConfigSchema } from '../../services/recording/src/server';
import {
  CHART,
  SCENARIOS,
  ensureHelm,
  helm,
  mountOf,
  processEnvOf,
  template,
  valuesArgs,
  type K8sObject,
} from './helm-support';

const deployment = (objs: readonly K8sObject[], name: string): K8sObject | undefined =>
  objs.find((o) => o.kind === 'Deployment' && o.metadata.name === name);
const janusPods = (objs: readonly K8sObject[]): K8sObject[] =>
  objs.filter((o) => o.kind === 'Deployment' && o.spec.template.metadata.labels['haven.io/janus'] === 'true');
const container = (pod: K8sObject, name: string): K8sObject | undefined =>
  pod.spec.template.spec.containers.find((c: K8sObject) => c.name === name);

beforeAll(() => ensureHelm());

describe.each([
  ['default', [] as string[], ['media-1']],
  ['hospital', [SCENARIOS.hospital], ['media-a', 'media-b']],
  ['small-clinic', [SCENARIOS['small-clinic']], ['media-1']],
])('the %s values', (_name, files, nodes) => {
  let objs: K8sObject[];
  beforeAll(() => {
    objs = template(files);
  });

  it('keeps the raw recordings in memory inside each Janus pod, and nowhere else', () => {
    expect(janusPods(objs).map((d) => d.spec.template.metadata.labels['haven.io/janus-node'])).toEqual(nodes);
    for (const pod of janusPods(objs)) {
      const spec = pod.spec.template.spec;
      const volume = spec.volumes.find((v: K8sObject) => v.name === 'recordings');
      expect(Object.keys(volume)).toEqual(['name', 'emptyDir']);
      expect(volume.emptyDir.medium).toBe('Memory');
      expect(volume.emptyDir.sizeLimit).toMatch(/^\d+(Mi|Gi)$/);
      for (const name of ['janus', 'recording-processor']) {
        expect(mountOf(container(pod, name)!, '/srv/haven/recordings/r1/a.mjr')?.name).toBe('recordings');
      }
    }
    // No other pod mounts a volume at the recordings path; no claim holds raw recordings.
    for (const d of objs.filter(
      (o) => o.kind === 'Deployment' && o.spec.template.metadata.labels['haven.io/janus'] !== 'true',
    )) {
      for (const c of d.spec.template.spec.containers) {
        expect(mountOf(c, '/srv/haven/recordings/r1/a.mjr')).toBeUndefined();
      }
    }
    expect(objs.filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => o.metadata.name)).not.toContain(
      'haven-recordings',
    );
  });

  it('runs a processor per node that the recording service would start, for the node the session names so', () => {
    const session = processEnvOf(deployment(objs, 'haven-session')!.spec.template.spec.containers[0]);
    const wsUrls = session['HAVEN_JANUS_WS_URLS']!.split(',');
    janusPods(objs).forEach((pod, index) => {
      const processor = container(pod, 'recording-processor')!;
      expect(processor.args).toEqual(['services/recording/dist/index.js']);
      const env = processEnvOf(processor);
      const config = loadConfig(recordingConfigSchema, env);
      expect(config.HAVEN_RECORDING_ROLE).toBe('processor');
      // The session service calls the i-th URL of HAVEN_JANUS_WS_URLS `janus-<i>`: this pod's node.
      expect(config.HAVEN_RECORDING_JANUS_NODE).toBe(`janus-${index}`);
      expect(wsUrls[index]).toContain(`janus-${pod.spec.template.metadata.labels['haven.io/janus-node']}:`);
      for (const [name, value] of Object.entries(env)) {
        if (/_(FILE|DIR)$/.test(name))
          expect({ name, mount: mountOf(processor, value)?.name }).not.toEqual({ name, mount: undefined });
      }
      for (const e of processor.env) {
        if (/SECRET|PASSWORD|TOKEN$/.test(e.name)) expect(e.value).toBeUndefined();
      }
      expect(processor.readinessProbe.grpc.port).toBeGreaterThan(0);
      expect(processor.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true });
    });
  });

  it('stores into the recording service’s shared data volume; the Deployment serves the API only', () => {
    const recording = deployment(objs, 'haven-recording')!.spec.template.spec;
    const env = processEnvOf(recording.containers[0]);
    expect(env['HAVEN_RECORDING_ROLE']).toBe('api');
    expect(env['HAVEN_RECORDINGS_DIR']).toBeUndefined();
    expect(() => loadConfig(recordingConfigSchema, env)).not.toThrow();
    const claim = recording.volumes.find((v: K8sObject) => v.name === 'data').persistentVolumeClaim.claimName;
    const pvc = objs.find((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === claim);
    expect(pvc?.spec.accessModes).toEqual(['ReadWriteMany']);
    for (const pod of janusPods(objs)) {
      const spec = pod.spec.template.spec;
      const data = spec.volumes.find((v: K8sObject) => v.name === 'recording-data');
      expect(data.persistentVolumeClaim.claimName).toBe(claim);
      expect(mountOf(container(pod, 'recording-processor')!, '/var/lib/haven/data/objects')?.name).toBe(
        'recording-data',
      );
      expect(mountOf(container(pod, 'janus')!, '/var/lib/haven/data/objects')).toBeUndefined();
    }
  });
});

describe('the processors’ network', () => {
  it('may reach NATS, and NATS lets them in', () => {
    const objs = template();
    const janus = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'haven-janus')!;
    expect(janus.spec.egress.flatMap((r: K8sObject) => r.ports.map((p: K8sObject) => p.port))).toContain(
      4222,
    );
    const nats = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'haven-nats')!;
    const clients = nats.spec.ingress.find((r: K8sObject) => r.ports.some((p: K8sObject) => p.port === 4222));
    const fromProcessors = clients.from.find(
      (f: K8sObject) => f.podSelector?.matchLabels['haven.io/recording-processor'] === 'true',
    );
    expect(fromProcessors).toBeDefined();
    for (const pod of janusPods(objs)) {
      expect(pod.spec.template.metadata.labels['haven.io/recording-processor']).toBe('true');
    }
  });

  it('has no processor, and NATS no opening for Janus pods, when the clinic never records', () => {
    const objs = template([], ['recordings.policy="off"']);
    for (const pod of janusPods(objs)) {
      expect(container(pod, 'recording-processor')).toBeUndefined();
      expect(pod.spec.template.metadata.labels['haven.io/recording-processor']).toBeUndefined();
    }
    const nats = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'haven-nats')!;
    expect(JSON.stringify(nats.spec.ingress)).not.toContain('recording-processor');
  });

  it('gives the processor the HSM the KMS lives in', () => {
    const objs = template(
      [],
      [
        'kms.provider="pkcs11"',
        'kms.pkcs11.module="/opt/haven/pkcs11/libvendor.so"',
        'kms.pkcs11.tokenLabel="haven"',
        'kms.pkcs11.pinSecret={"name":"hsm-pin","key":"pin"}',
        'kms.pkcs11.volume={"hostPath":{"path":"/opt/hsm"}}',
        'kms.pkcs11.egressPorts=[1792]',
      ],
    );
    const pod = janusPods(objs)[0]!;
    const processor = container(pod, 'recording-processor')!;
    const env = processEnvOf(processor);
    expect(mountOf(processor, env['HAVEN_PKCS11_MODULE']!)?.name).toBe('kms-module');
    expect(mountOf(processor, env['HAVEN_PKCS11_PIN_FILE']!)?.name).toBe('keyring');
    expect(pod.spec.template.spec.initContainers.map((c: K8sObject) => c.name)).toContain('keyring');
    const janus = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'haven-janus')!;
    expect(janus.spec.egress.flatMap((r: K8sObject) => r.ports.map((p: K8sObject) => p.port))).toContain(
      1792,
    );
  });
});

describe('impossible recording settings', () => {
  it.each([
    [
      'a Janus memory limit the raw recordings do not fit in',
      [
        'recordings.memory.sizeLimit="4Gi"',
        'janus.resources={"requests":{"cpu":"1","memory":"1Gi"},"limits":{"cpu":"2","memory":"4Gi"}}',
      ],
      /janus\.resources\.limits\.memory \(4Gi\) must exceed recordings\.memory\.sizeLimit \(4Gi\)/,
    ],
    [
      'a recording data volume the Janus pods cannot share',
      [
        'services.recording.persistence.accessMode="ReadWriteOnce"',
        'services.recording.autoscaling.enabled=false',
        'services.recording.replicas=1',
      ],
      /services\.recording\.persistence\.accessMode must be ReadWriteMany/,
    ],
    [
      'a service mounting the raw recordings',
      ['services.recording.recordings=true'],
      /services\.recording\.recordings must be false/,
    ],
    ['a disk-sized memory folder', ['recordings.memory.sizeLimit="500G"'], /sizeLimit/],
  ])('refuses %s', (_name, setJson, message) => {
    const r = helm(['template', 'haven', CHART, ...valuesArgs([], setJson)]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});

describe('recordings.objectStore s3', () => {
  const S3 = [
    'recordings.objectStore.type="s3"',
    'recordings.objectStore.s3.endpoint="https://minio.storage.svc:9000"',
    'recordings.objectStore.s3.bucket="haven-recordings"',
    'recordings.objectStore.s3.prefix="clinic-a/"',
    'recordings.objectStore.s3.credentialsSecret={"name":"s3-creds","accessKeyIdKey":"id","secretAccessKeyKey":"secret"}',
    'recordings.objectStore.s3.port=9000',
    'recordings.objectStore.s3.egressCidrs=["10.50.0.0/24"]',
  ];

  it('points the recording service and every processor at the bucket, credentials from the secret', () => {
    const objs = template([], S3);
    const containers = [
      deployment(objs, 'haven-recording')!.spec.template.spec.containers[0],
      ...janusPods(objs).map((pod) => container(pod, 'recording-processor')!),
    ];
    for (const c of containers) {
      const config = loadConfig(recordingConfigSchema, processEnvOf(c));
      expect(config).toMatchObject({
        HAVEN_RECORDING_OBJECT_STORE: 's3',
        HAVEN_RECORDING_S3_ENDPOINT: 'https://minio.storage.svc:9000',
        HAVEN_RECORDING_S3_BUCKET: 'haven-recordings',
        HAVEN_RECORDING_S3_PREFIX: 'clinic-a/',
        HAVEN_RECORDING_S3_FORCE_PATH_STYLE: true,
      });
      const refs = Object.fromEntries(
        c.env
          .filter((e: K8sObject) => e.name.startsWith('AWS_'))
          .map((e: K8sObject) => [e.name, e.valueFrom]),
      );
      expect(refs).toEqual({
        AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 's3-creds', key: 'id' } },
        AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: 's3-creds', key: 'secret' } },
      });
    }
    for (const name of ['haven-recording', 'haven-janus']) {
      const np = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === name)!;
      const rule = np.spec.egress.find((r: K8sObject) => r.ports.some((p: K8sObject) => p.port === 9000));
      expect(rule?.to).toEqual([{ ipBlock: { cidr: '10.50.0.0/24' } }]);
    }
  });

  it('keeps the filesystem store by default, and refuses s3 without a bucket', () => {
    const env = processEnvOf(deployment(template(), 'haven-recording')!.spec.template.spec.containers[0]);
    expect(env['HAVEN_RECORDING_OBJECT_STORE']).toBeUndefined();
    const r = helm(['template', 'haven', CHART, ...valuesArgs([], ['recordings.objectStore.type="s3"'])]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/recordings\.objectStore\.s3\.bucket/);
  });
});
