/** The part of fs-native-extensions (CommonJS, no types of its own) that sshcast uses. */
declare module 'fs-native-extensions' {
  /** Takes an exclusive (or shared) lock without waiting; false when another holder has it. */
  export function tryLock(
    fd: number,
    offset: number,
    length: number,
    opts?: { shared?: boolean },
  ): boolean;
  /** Releases a lock taken on `fd`. */
  export function unlock(fd: number, offset: number, length: number): void;
  const fsx: { tryLock: typeof tryLock; unlock: typeof unlock };
  export default fsx;
}
