export { AeadKey, ReplayWindow, Verdict, verdictName, TAG_SIZE } from './aead';
export type {
  AeadAlgorithm,
  AeadKeyOptions,
  CryptBatch,
  SealOptions,
  OpenOptions,
  VerdictName,
} from './aead';
