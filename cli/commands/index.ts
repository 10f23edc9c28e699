// Every command of the CLI; each module only wires commander to the library in src/.
import type { Command } from 'commander';
import { registerBundle } from './bundle.js';
import { registerDev } from './dev.js';
import { registerDoctor } from './doctor.js';
import { registerKeys } from './keys.js';
import { registerMigrate } from './migrate.js';
import { registerProvider } from './provider.js';
import { registerRevoke } from './revoke.js';
import { registerSeal } from './seal.js';
import { registerSync } from './sync.js';
import { registerVerify } from './verify.js';
import { registerWhy } from './why.js';

export const commandModules: ((program: Command) => void)[] = [registerMigrate, registerKeys, registerVerify, registerDev, registerProvider, registerSync, registerBundle, registerDoctor, registerSeal, registerRevoke, registerWhy];
