// The completion scripts `skiff completion bash|zsh` prints. Both are one bash function (zsh runs it through its
// bashcompinit layer, shipped with zsh), generated from the command tree: it walks the words typed so far to the
// deepest command they name, then offers that command's subcommands and options, or the values of the option (or
// first argument) being completed when those are a fixed set. Nothing is asked of the API while completing: a
// shell must never wait on a metered link for a TAB.
import type { CompletionNode } from './tree.js';

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

/** Words go into the script unquoted: they must be plain (commander names, fixed choices), never anything else. */
function word(text: string): string {
  if (!/^[A-Za-z0-9_.:/@+-]+$/.test(text)) throw new Error(`'${text}' cannot appear in a completion script`);
  return text;
}

const words = (list: readonly string[]): string => list.map(word).join(' ');

function bashFunction(nodes: readonly CompletionNode[]): string {
  const paths = nodes.filter((n) => n.path.length > 1).map((n) => `"${words(n.path)}"`);
  const valueCases = nodes.flatMap((n) =>
    Object.entries(n.choices).map(
      ([option, values]) => `    "${words(n.path)}|${word(option)}") _skiff_offer "$cur" ${words(values)}; return ;;`,
    ),
  );
  const commandCases = nodes.map((n) => {
    const offered = [...n.subcommands, ...n.argumentChoices, ...n.options];
    return `    "${words(n.path)}") _skiff_offer "$cur" ${words(offered)} ;;`;
  });
  return [
    // The words of $2... that start with $1. Not compgen: zsh's stand-in for it filters only inside a completion.
    '_skiff_offer() {',
    '  local typed="$1" w',
    '  shift',
    '  COMPREPLY=()',
    '  for w in "$@"; do',
    '    case "$w" in "$typed"*) COMPREPLY+=("$w") ;; esac',
    '  done',
    '}',
    '_skiff() {',
    // zsh's bashcompinit calls this with arrays numbered from 0, as bash numbers them; say so for any other caller.
    '  [ -n "${ZSH_VERSION-}" ] && setopt localoptions ksharrays',
    '  local cur prev path i w',
    '  cur="${COMP_WORDS[COMP_CWORD]}"',
    '  prev="${COMP_WORDS[COMP_CWORD-1]}"',
    '  path=skiff',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    w="${COMP_WORDS[i]}"',
    '    case "$path $w" in',
    `      ${paths.length === 0 ? '"-"' : paths.join('|')}) path="$path $w" ;;`,
    '    esac',
    '  done',
    '  case "$path|$prev" in',
    ...valueCases,
    '  esac',
    '  case "$path" in',
    ...commandCases,
    '  esac',
    '}',
  ].join('\n');
}

export function completionScript(shell: Shell, nodes: readonly CompletionNode[]): string {
  const body = bashFunction(nodes);
  if (shell === 'bash') {
    return `# skiff completion for bash: add to ~/.bashrc:  source <(skiff completion bash)\n${body}\ncomplete -F _skiff skiff\n`;
  }
  return [
    '#compdef skiff',
    '# skiff completion for zsh: add to ~/.zshrc:  source <(skiff completion zsh)',
    'autoload -U +X compinit && compinit -u',
    'autoload -U +X bashcompinit && bashcompinit',
    body,
    'complete -F _skiff skiff',
    '',
  ].join('\n');
}
