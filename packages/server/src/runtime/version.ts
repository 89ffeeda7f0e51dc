/** zabkit's version, reported in status replies and by `zabkit --version`. */
export const VERSION = '0.1.0';
