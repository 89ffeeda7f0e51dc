import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planThinImage, projectRootOf, renderZooCfg, tarball } from '@zabkit/testing';
import { LineSplitter, NodeLog } from '../src/config.js';
import { SERVER_NODE_ARGS } from 'zabkit';

describe('@zabkit/testing helpers', () => {
  it('renders zoo.cfg with voters, observers and loopback ports', () => {
    const cfg = renderZooCfg({
      id: 2,
      voters: 2,
      observers: 1,
      tickTime: 200,
      dataDir: '/zabkit/data',
      ports: [
        [2181, 2888, 3888],
        [2182, 2889, 3889],
        [2183, 2890, 3890],
      ],
      extraConfig: { maxClientCnxns: 10 },
    });
    expect(cfg.split('\n')).toEqual([
      'tickTime=200',
      'initLimit=10',
      'syncLimit=5',
      'dataDir=/zabkit/data',
      'clientPort=2182',
      'clientPortAddress=127.0.0.1',
      'maxClientCnxns=10',
      'server.1=127.0.0.1:2888:3888',
      'server.2=127.0.0.1:2889:3889',
      'server.3=127.0.0.1:2890:3890:observer',
      '',
    ]);
  });

  it('writes a tar that tar(1) reads: dirs, symlinks, files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'zabkit-tar-'));
    try {
      const file = join(dir, 'root.tar');
      await writeFile(
        file,
        tarball([
          { type: 'dir', path: 'usr' },
          { type: 'symlink', path: 'lib', target: 'usr/lib' },
          { type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
        ]),
      );
      const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' });
      expect(listing).toMatch(/^d.* usr\/$/m);
      expect(listing).toMatch(/^l.* lib -> usr\/lib$/m);
      expect(listing).toMatch(/^-.* 30 .* etc\/passwd$/m);
      execFileSync('tar', ['-xf', file, '-C', dir]);
      expect(execFileSync('cat', [join(dir, 'etc/passwd')], { encoding: 'utf8' })).toBe('root:x:0:0:root:/root:/bin/sh\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('plans a thin image: host /usr and the project read-only, node and the built CLI as the command', () => {
    const plan = planThinImage();
    expect(plan.image).toMatch(/^zabkit-testing-thin:[0-9a-f]{12}$/);
    expect(plan.mounts).toContain('/usr');
    const root = projectRootOf(join(process.cwd(), 'packages/cli/dist/bin.js'));
    expect(plan.mounts).toContain(root);
    const cmd = plan.command('/zabkit/data/zoo.cfg', 3);
    // node, the servers' node flags, the CLI
    expect(cmd.slice(1)).toEqual([...SERVER_NODE_ARGS, join(root, 'packages/cli/dist/bin.js'), 'server', '--config', '/zabkit/data/zoo.cfg', '--myid', '3']);
    expect(planThinImage().image).toBe(plan.image); // same layout, same tag
  });

  it('finds the project root of an installed CLI at its node_modules', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'zabkit-root-'));
    try {
      const bin = join(dir, 'app/node_modules/.pnpm/zabkit@0.1.0/node_modules/zabkit/dist/bin.js');
      await mkdir(join(bin, '..'), { recursive: true });
      await writeFile(bin, '');
      expect(projectRootOf(bin)).toBe(join(dir, 'app'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('splits chunks into lines and keeps a bounded log', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    s.push('a\nb');
    s.push('c\r\nd');
    s.flush();
    expect(lines).toEqual(['a', 'bc', 'd']);
    const log = new NodeLog(10);
    for (const l of ['12345', '67890', 'abc']) log.add(l);
    expect(log.text()).toBe('67890\nabc\n');
  });
});
