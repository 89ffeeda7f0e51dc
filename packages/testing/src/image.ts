/**
 * The default image: a near-empty root file system made with `docker import` (no registry pull),
 * run with the host's /usr (node and its libraries) and the project holding the zabkit CLI
 * bind-mounted read-only at the same paths. Builds in well under a second, once per layout.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, parse, sep } from 'node:path';
import { Readable } from 'node:stream';
import { getContainerRuntimeClient } from 'testcontainers';
import { BIN_PATH, SERVER_NODE_ARGS } from 'zabkit';
import { tarball, type TarEntry } from './tar.js';

export interface ThinImagePlan {
  /** Image reference, tagged by a hash of the root file system's contents. */
  image: string;
  /** Read-only bind mounts (host path = container path). */
  mounts: string[];
  /** Command that runs a server. */
  command: (configFile: string, myid: number) => string[];
  /** The tar `docker import` takes. */
  rootfs: Buffer;
}

/** Top-level directories that merged-/usr systems make symlinks (bin -> usr/bin ...). */
const TOP_DIRS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * The directory to mount so the zabkit CLI and everything it imports resolve: the project whose
 * node_modules holds it, or the workspace root (pnpm-workspace.yaml) when it is a workspace package.
 */
export function projectRootOf(binPath: string): string {
  const real = realpathSync(binPath);
  const nm = real.indexOf(`${sep}node_modules${sep}`);
  if (nm > 0) return real.slice(0, nm);
  let dir = dirname(real);
  let highestWithModules: string | null = null;
  const root = parse(dir).root;
  while (dir !== root) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (existsSync(join(dir, 'node_modules'))) highestWithModules = dir;
    dir = dirname(dir);
  }
  return highestWithModules ?? dirname(dirname(real));
}

export function planThinImage(extraMounts: string[] = []): ThinImagePlan {
  const entries: TarEntry[] = [
    { type: 'dir', path: 'usr' },
    { type: 'dir', path: 'etc' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'zabkit' },
    { type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/usr/sbin/nologin\n' },
    { type: 'file', path: 'etc/group', content: 'root:x:0:\n' },
    { type: 'dir', path: 'root', mode: 0o700 },
  ];
  const mounts = new Set<string>(['/usr']);
  for (const top of TOP_DIRS) {
    const host = `/${top}`;
    let st;
    try {
      st = lstatSync(host);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) entries.push({ type: 'symlink', path: top, target: readlinkSync(host) });
    else if (st.isDirectory()) {
      entries.push({ type: 'dir', path: top });
      mounts.add(host);
    }
  }
  const node = realpathSync(process.execPath);
  if (![...mounts].some((m) => isUnder(node, m))) mounts.add(dirname(dirname(node))); // e.g. ~/.nvm/versions/node/v20.x
  const bin = realpathSync(BIN_PATH);
  if (!existsSync(bin)) throw new Error(`zabkit CLI not built: ${bin} is missing (run tsc -b)`);
  mounts.add(projectRootOf(bin));
  for (const m of extraMounts) mounts.add(realpathSync(m));
  const rootfs = tarball(entries);
  const tag = createHash('sha256').update(rootfs).digest('hex').slice(0, 12);
  return {
    image: `zabkit-testing-thin:${tag}`,
    mounts: [...mounts].filter((m) => statSync(m, { throwIfNoEntry: false })),
    command: (configFile, myid) => [node, ...SERVER_NODE_ARGS, bin, 'server', '--config', configFile, '--myid', String(myid)],
    rootfs,
  };
}

const building = new Map<string, Promise<void>>();

/** Imports the thin image unless the engine has it already. */
export function ensureThinImage(plan: ThinImagePlan): Promise<void> {
  let p = building.get(plan.image);
  if (!p) {
    p = importImage(plan).catch((err: unknown) => {
      building.delete(plan.image);
      throw err;
    });
    building.set(plan.image, p);
  }
  return p;
}

async function importImage(plan: ThinImagePlan): Promise<void> {
  const client = await getContainerRuntimeClient();
  const docker = client.container.dockerode;
  try {
    await docker.getImage(plan.image).inspect();
    return;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  const [repo, tag] = plan.image.split(':') as [string, string];
  const progress = await docker.importImage(Readable.from([plan.rootfs]) as unknown as NodeJS.ReadableStream, { repo, tag });
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(progress, (err: Error | null, output: Array<{ error?: string }>) => {
      const failed = err ?? output.find((o) => o.error);
      if (failed) reject(failed instanceof Error ? failed : new Error(`docker import failed: ${failed.error}`));
      else resolve();
    });
  });
}
