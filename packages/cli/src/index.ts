export { LocalCluster, freePort, freePorts, BIN_PATH, SERVER_NODE_ARGS, type LocalClusterOptions, type LocalNode } from './local-cluster.js';
export { execShellCommand, tokenize, SHELL_HELP } from './shell-commands.js';
export { runDemo } from './demo.js';
export { ensureClusterSecret } from './cluster-secret.js';
