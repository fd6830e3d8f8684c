/** The fuzzers' seed: SSHCAST_FUZZ_SEED, or a fixed default so CI runs are reproducible. */
export const SEED = Number(process.env.SSHCAST_FUZZ_SEED ?? 0x5ca57);
