// Runs one handler of the Provider framework's synthesized asset, as Lambda's Node.js runtime
// would: require the module, call the exported handler with the event, await it.
// Usage: node invoke_framework.js <asset dir> <module.export> < event.json
"use strict";
const path = require("path");

async function main() {
  const [assetDir, handler] = process.argv.slice(2);
  const [moduleName, exportName] = handler.split(".");
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const event = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const module = require(path.join(assetDir, moduleName));
  await module[exportName](event);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
