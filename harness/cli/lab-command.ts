import type { Command } from 'commander';
import { join } from 'node:path';
import { checkInventory } from '../board/check.ts';
import { inventoryPath, loadInventory } from '../board/inventory.ts';
import { openLab } from '../lab.ts';
import { makeOutput } from './output.ts';
import { run } from './run.ts';

/** `huplab lab list`: the inventory checked against its schema and the profiles, then each board asked. */
export function registerLab(program: Command): void {
  const lab = program
    .command('lab')
    .description('the lab of real boards (inventory: --inventory FILE or HUPLAB_INVENTORY)');
  lab
    .command('list')
    .description(
      'check the lab inventory and say which boards answer (console opens, SSH runs a command); switches nothing',
    )
    .option('--inventory <file>', 'lab inventory (JSON or YAML); default: $HUPLAB_INVENTORY')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (o: { inventory?: string; json?: boolean }) => {
        const out = makeOutput(!!o.json);
        const inv = await loadInventory(inventoryPath(o.inventory));
        const l = openLab();
        const boards = await checkInventory(inv, {
          boardsDir: (name) => join(l.dir, 'boards', name),
          sshKeyPath: l.key.privateKeyPath,
        });
        out.result({ inventory: inv.file, lab: inv.lab, boards }, () => [
          `${inv.file}: valid, ${inv.boards.length} board(s)${inv.lab ? ` on ${inv.lab}` : ''}; ${boards.filter((b) => b.sshOk).length} answer`,
          ...boards.flatMap((b) => [
            `${b.name} (${b.profile}): ${b.sshOk ? 'answers' : 'does not answer'}`,
            `  console ${b.console}`,
            `  ssh     ${b.ssh}`,
          ]),
        ]);
        return 0;
      }),
    );
}
