// JSON.stringify(JSON.parse(body)) as node computes it, for many bodies at once: the reference
// tests/stringify.rs holds hookscope::verify::stringify to. Node core modules only.
//
//   node stringify.js FILE
//
// FILE holds one body per line, in base64 (an empty line is an empty body). For each, one line
// is printed: "=" and the base64 of the UTF-8 result; "!" when JSON.parse throws a SyntaxError;
// "?" and the message for any other error (none is expected: the Rust side would then differ).
'use strict';
const fs = require('fs');

const lines = fs.readFileSync(process.argv[2], 'utf8').split('\n');
lines.pop(); // the file ends with a newline

const results = lines.map((line) => {
  // As express.json() reads a body: body-parser decodes through iconv-lite (the same UTF-8
  // decoding as Buffer#toString), which strips one leading BOM.
  let text = Buffer.from(line, 'base64').toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return '=' + Buffer.from(JSON.stringify(JSON.parse(text)), 'utf8').toString('base64');
  } catch (err) {
    return err instanceof SyntaxError ? '!' : '?' + String(err.message).replace(/\n/g, ' ');
  }
});
process.stdout.write(results.join('\n') + '\n');
