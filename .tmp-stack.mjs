import { Command } from 'commander';
const original = Command.prototype.parseAsync;
Command.prototype.parseAsync = async function (...args) {
  try {
    return await original.apply(this, args);
  } catch (error) {
    process.stderr.write(`FULLSTACK ${error?.stack}\n`);
    throw error;
  }
};
