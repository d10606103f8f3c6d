// What shell completion offers, read off the command tree itself, so a command or option added anywhere is
// completed without anyone remembering to list it.
import type { Command } from 'commander';
import { kindOf } from '../options/kinds.js';

export interface CompletionNode {
  /** The words that lead here: ['skiff', 'device', 'pin']. */
  path: string[];
  subcommands: string[];
  /** Long options (and short ones), --help included. */
  options: string[];
  /** Options whose value is one of a fixed set, with that set. */
  choices: Record<string, readonly string[]>;
  /** Values the next positional argument can take, when its kind has a fixed set. */
  argumentChoices: readonly string[];
}

/** Every command of the tree, depth first, the root first. */
export function completionTree(root: Command, path: string[] = [root.name()]): CompletionNode[] {
  const options = root.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined));
  const choices: Record<string, readonly string[]> = {};
  for (const option of root.options) {
    const values = kindOf(option)?.kind.choices;
    if (option.long !== undefined && values !== undefined) choices[option.long] = values;
  }
  const first = root.registeredArguments[0];
  const node: CompletionNode = {
    path,
    subcommands: root.commands.map((c) => c.name()),
    options: [...options, '--help'],
    choices,
    argumentChoices: (first === undefined ? undefined : kindOf(first)?.kind.choices) ?? [],
  };
  return [node, ...root.commands.flatMap((c) => completionTree(c, [...path, c.name()]))];
}
