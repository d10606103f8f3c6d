// V8 tuned for a daemon that mostly idles on a 1 GB Pi: --optimize-for-size trades some peak speed of optimised
// code for a smaller heap and code space (measured: idle RSS 72 -> 66 MB). main.ts imports this module first, so
// the flag is set before the rest of the supervisor is compiled (V8 compiles functions lazily, at first call).
import { setFlagsFromString } from 'node:v8';

if (process.env.SKIFF_V8_OPTIMIZE_FOR_SIZE !== '0') setFlagsFromString('--optimize-for-size');
