// authdb's public library entry: what applications and tooling import from 'authdb'.
export { withAuth, TransactionAbortedError, type WithAuthOptions } from './with-auth.js';
export { migrateUp, migrateDown, migrateStatus, type MigrateResult, type MigrateStatus } from './migrate.js';
export { authDependents, MigrateError, type MigrateOptions } from './migrate.js';
export { verifyToken, type VerifyOutcome } from './verify.js';
export { addKeys, addKeysFromFile, addHmacSecret, listKeys, revokeKey, revokeKeys, type AddedKey, type AddKeysResult, type KeyRow, type KeySummary, type RevokeResult } from './keys.js';
export { REJECTION_CODES, rejectionOf, type Rejection, type RejectionCode } from './errors.js';
export { AuthdbError, databaseCause, type AuthdbErrorOptions, type DatabaseCause } from './errors.js';
export { KeyInputError } from './keys.js';
export {
  InvalidSettingError, RegistryError, listProviders, removeProvider, updateProvider,
  type ProviderSettings, type ProviderSummary, type ProviderUpdate,
} from './providers/registry.js';
export { addProvider, type AddProviderOptions, type AddProviderResult } from './providers/add.js';
export { syncProviders, watchProviders, type SyncOptions, type SyncResult, type WatchOptions } from './sync.js';
export { SealRotationError, rotateSealSecret } from './seal.js';
export { writeBundle, bundleFiles, BUNDLE_FORMATS, type BundleFormat, type BundleResult } from './bundle.js';
export { withSchema, qualify, SchemaNameError, DEFAULT_SCHEMA } from './schema.js';
export { withInstallation, listInstallations, resolveSchema, InstallationError, type Installation } from './installation.js';
export { inTransaction, type TransactionOptions } from './transaction.js';
export { FetchError } from './jwks/fetch.js';
export { KeySetError } from './jwks/parse.js';
export { KeyLimitError, NoUsableKeyError } from './jwks/apply.js';
export { EmbeddedPostgresMissingError } from './embedded.js';
export { ALGORITHMS, SUPPORTED_ALGORITHMS, type Algorithm, type AlgorithmName } from './algorithms.js';
export { startDev, mintDevToken, prepareDevDatabase, runSqlAs, type DevEnvironment, type DevClaims, type SqlResult } from './dev.js';
export { ConnectError, NoDatabaseError } from './connection.js';
export {
  revoke, revokeSubject, revokeToken, revokeSession, listRevocations, pruneRevocations,
  type Revocation, type RevocationKind, type PruneResult,
} from './revocations.js';
export { runDoctor, type DoctorFinding, type DoctorReport } from './doctor.js';
export { explainWhy, renderWhy, WhyError, type WhyOptions, type WhyReport, type WhyIdentity, type CommandReport, type ClauseReport, type PolicyVerdict } from './why/index.js';
