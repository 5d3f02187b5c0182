#!/usr/bin/env node
// Regenerates common-passwords.txt: well-known top passwords plus the patterns people use to
// satisfy composition rules (word + year/number + symbol, keyboard walks). Lower-case, one a line,
// sorted, unique. Matching is case-insensitive. Run: node services/identity/data/generate-common-passwords.mjs
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const top = `123456 123456789 12345678 password qwerty 123123 12345 1234567 111111 1234567890 000000 abc123 password1
1234 iloveyou 1q2w3e4r 654321 123321 qwertyuiop 666666 987654321 1q2w3e4r5t 555555 monkey dragon 7777777 princess
football baseball sunshine welcome letmein shadow master 696969 michael mustang superman batman trustno1 access
starwars hello freedom whatever qazwsx ninja azerty solo loveme passw0rd p@ssw0rd p@ssword admin admin123 root
charlie donald jordan23 hunter2 hunter michelle jessica ashley daniel pepper ginger killer soccer hockey george
computer internet secret matrix cheese flower tigger buster harley ranger thomas robert jennifer andrew joshua
qwerty123 qwe123 zxcvbnm zxcvbn asdfgh asdfghjkl 1qaz2wsx 1qaz2wsx3edc zaq12wsx !qaz2wsx 123qwe 123abc a1b2c3
aa123456 abcd1234 password123 password12 password1! passw0rd! welcome1 welcome123 letmein1 changeme changeme123
default guest test test123 testing user login temp temp123 secret123 administrator adminadmin iloveyou1
qwertyuiop123 11111111 22222222 88888888 99999999 00000000 12341234 123456a 123456q a123456 q123456
myspace1 linkedin facebook google youtube twitter instagram samsung apple chelsea liverpool arsenal
blink182 pokemon naruto minecraft fortnite roblox correcthorsebatterystaple correct horse battery staple
trustno1! summer2020 winter2020 spring2021 autumn2021 fall2022 qwerty1! password!1 p@ssw0rd1 p@ssw0rd123
1qaz@wsx 1qaz!qaz 1q2w3e4r5t6y 1q2w3e4r5t6y7u8i 1234qwer qwer1234 asdf1234 zxcv1234 1234asdf
q1w2e3r4 q1w2e3r4t5 q1w2e3r4t5y6 !@#$%^&* !@#$%^ 1234567890qwertyuiop qwertyuiopasdfghjkl`;

const words =
  `password passw0rd p@ssw0rd p@ssword welcome welc0me letmein admin administrator qwerty monkey dragon
football baseball basketball soccer hockey sunshine princess iloveyou summer winter spring autumn fall
hospital clinic doctor nurse health healthcare medical medicine patient therapy therapist telehealth
company office secret changeme default master shadow freedom whatever trustno1 starwars superman batman
charlie michael jennifer jordan thomas london paris berlin newyork chicago america canada december
january february march april june july august september october november monday friday computer
internet security login access qwertyuiop asdfghjkl zxcvbnm abc123 abcdef`
    .split(/\s+/)
    .filter(Boolean);
const suffixes = ['', '1', '12', '123', '1234', '12345', '123456', '01', '007', '69', '99', '00'];
for (let y = 2000; y <= 2030; y++) suffixes.push(String(y));
const symbols = ['', '!', '@', '#', '$', '?'];
const prefixes = ['', '!', '@', '#'];

const out = new Set();
for (const w of top.split(/\s+/)) if (w) out.add(w.toLowerCase());
for (const w of words) {
  for (const s of suffixes) {
    for (const sym of symbols) {
      out.add(`${w}${s}${sym}`);
      if (s && sym === '!') out.add(`${w}${sym}${s}`);
    }
  }
  for (const p of prefixes) out.add(`${p}${w}`);
}
// keyboard walks and repeated digits
const rows = ['1234567890', 'qwertyuiop', 'asdfghjkl', 'zxcvbnm', '0987654321'];
for (const r of rows)
  for (let n = 6; n <= r.length; n++) for (const sym of symbols) out.add(r.slice(0, n) + sym);
for (let d = 0; d <= 9; d++) for (let n = 6; n <= 16; n++) out.add(String(d).repeat(n));

const lines = [...out].filter((p) => p.length >= 4).sort();
const here = dirname(fileURLToPath(import.meta.url));
writeFileSync(join(here, 'common-passwords.txt'), lines.join('\n') + '\n');
process.stdout.write(`wrote ${lines.length} passwords\n`);
