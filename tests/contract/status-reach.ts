/**
 * What the proto comments promise and what the code can answer, read from the sources:
 *
 * - {@link documentedStatuses}: per RPC, the gRPC status codes its comment names ("Returns INVALID_ARGUMENT
 *   on …, NOT_FOUND when …").
 * - {@link reachableStatuses}: per RPC, the status codes its handler can produce. From the handler (the member
 *   named after the RPC in the object literal the service registers, or the exported function of that name)
 *   it follows every function, method and constant the code refers to inside the repo (packages and the
 *   service, not generated code or node_modules) and collects what can be thrown: `new SomeError(…)` of a
 *   class whose `category` maps to a status (STATUS_OF_CATEGORY), `status.X` of gRPC, and the "Throws X" of
 *   a port method it calls (an interface has no body to follow: its documented errors stand for its
 *   adapters'). An over-approximation: a status may be reachable that no request produces, never the reverse
 *   for the code it reads.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import ts from 'typescript';

/** gRPC status names, as the proto comments spell them. */
export const STATUS_NAMES = [
  'CANCELLED',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;
export type StatusName = (typeof STATUS_NAMES)[number];

/** One RPC of a proto service. */
export interface RpcDoc {
  /** The proto folder's service (`identity`, `session`, …). */
  readonly service: string;
  /** The RPC name (`CreateUser`). */
  readonly rpc: string;
  /** The status codes its comment names. */
  readonly statuses: ReadonlySet<StatusName>;
}

function files(dir: string, keep: (path: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'node_modules' && name !== 'dist' && name !== 'gen') out.push(...files(path, keep));
    } else if (keep(path)) out.push(path);
  }
  return out;
}

/** The statuses the comment of each RPC of `proto/haven/<service>/v1/*_service.proto` names. */
export function documentedStatuses(root: string): RpcDoc[] {
  const out: RpcDoc[] = [];
  for (const file of files(join(root, 'proto'), (p) => p.endsWith('_service.proto'))) {
    const service = relative(join(root, 'proto', 'haven'), file).split(sep)[0]!;
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      const rpc = /^\s*rpc (\w+)\(/.exec(line)?.[1];
      if (!rpc) return;
      const comment: string[] = [];
      for (let j = i - 1; j >= 0 && lines[j]!.trim().startsWith('//'); j--) comment.unshift(lines[j]!);
      const words = new Set(comment.join(' ').match(/\b[A-Z][A-Z_]+[A-Z]\b/g) ?? []);
      out.push({ service, rpc, statuses: new Set(STATUS_NAMES.filter((s) => words.has(s))) });
    });
  }
  return out;
}

const STATUS_BY_CODE = new Map<number, StatusName>(STATUS_NAMES.map((name) => [grpcStatus[name], name]));

/** Follows the code from each handler of the services in `root`; see the module comment. */
export class StatusReach {
  private readonly program: ts.Program;
  private readonly checker: ts.TypeChecker;
  private readonly sources: ts.SourceFile[];
  private readonly categoryOfClass = new Map<ts.Declaration, string | undefined>();

  constructor(
    private readonly root: string,
    /** gRPC status code of each error category (STATUS_OF_CATEGORY). */
    private readonly statusOfCategory: Readonly<Record<string, number>>,
  ) {
    const roots = ['packages', 'services'].flatMap((top) =>
      files(
        join(root, top),
        (p) => p.endsWith('.ts') && !p.endsWith('.spec.ts') && p.includes(`${sep}src${sep}`),
      ),
    );
    this.program = ts.createProgram(roots, {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      baseUrl: root,
      paths: { '@haven/*': ['packages/*/src/index.ts'] },
      strict: true,
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
    });
    this.checker = this.program.getTypeChecker();
    this.sources = this.program.getSourceFiles().filter((f) => this.inRepo(f.fileName));
  }

  private inRepo(fileName: string): boolean {
    const path = relative(this.root, fileName);
    return (
      !path.startsWith('..') &&
      !path.includes('node_modules') &&
      !path.includes(`${sep}gen${sep}`) &&
      !path.includes('/gen/') &&
      !fileName.endsWith('.d.ts')
    );
  }

  /**
   * The handler of `rpc` (ts-proto method key, e.g. `createUser`) in services/<service>/src: the object-literal
   * members of that name, or else the exported function. Empty when the service has none (not implemented).
   */
  handlersOf(service: string, rpc: string): ts.Node[] {
    const key = rpc[0]!.toLowerCase() + rpc.slice(1);
    const dir = `${join(this.root, 'services', service, 'src')}${sep}`;
    const members: ts.Node[] = [];
    const functions: ts.Node[] = [];
    for (const source of this.sources) {
      if (!source.fileName.startsWith(dir) && !source.fileName.startsWith(dir.split(sep).join('/'))) continue;
      const visit = (node: ts.Node): void => {
        if (
          node.parent !== undefined &&
          ts.isObjectLiteralExpression(node.parent) &&
          (node as ts.NamedDeclaration).name?.getText() === key
        ) {
          members.push(node);
        } else if (ts.isFunctionDeclaration(node) && node.name?.text === key) {
          functions.push(node);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    return members.length > 0 ? members : functions;
  }

  /** The statuses reachable from `start` (see the module comment). */
  reachable(start: readonly ts.Node[]): Set<StatusName> {
    const found = new Set<StatusName>();
    const seen = new Set<ts.Node>();
    const queue: ts.Node[] = [...start];
    const follow = (node: ts.Node | undefined): void => {
      if (node && !seen.has(node) && this.inRepo(node.getSourceFile().fileName)) {
        seen.add(node);
        queue.push(node);
      }
    };
    const walk = (node: ts.Node): void => {
      if (ts.isNewExpression(node)) {
        const status = this.statusOfErrorClass(node.expression);
        if (status) found.add(status);
      }
      if (ts.isPropertyAccessExpression(node) && node.expression.getText().match(/(^|\.)status$/)) {
        const value = this.checker.getConstantValue(node);
        const status = typeof value === 'number' ? STATUS_BY_CODE.get(value) : undefined;
        if (status) found.add(status);
      }
      if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) {
        for (const declaration of this.declarationsOf(node)) {
          if (ts.isMethodSignature(declaration) || ts.isPropertySignature(declaration)) {
            for (const status of this.documentedThrows(declaration)) found.add(status);
          } else if (
            ts.isFunctionLike(declaration) ||
            ts.isVariableDeclaration(declaration) ||
            ts.isPropertyAssignment(declaration) ||
            ts.isShorthandPropertyAssignment(declaration) ||
            ts.isPropertyDeclaration(declaration)
          ) {
            follow(declaration);
          }
        }
      }
      ts.forEachChild(node, walk);
    };
    for (let node = queue.shift(); node; node = queue.shift()) {
      if (ts.isShorthandPropertyAssignment(node)) {
        const value = this.checker.getShorthandAssignmentValueSymbol(node);
        for (const d of value ? (this.resolved(value).declarations ?? []) : []) follow(d);
      }
      if (ts.isClassDeclaration(node)) continue; // a class is followed through its methods
      walk(node);
    }
    return found;
  }

  private resolved(symbol: ts.Symbol): ts.Symbol {
    return symbol.flags & ts.SymbolFlags.Alias ? this.checker.getAliasedSymbol(symbol) : symbol;
  }

  private declarationsOf(node: ts.Node): readonly ts.Declaration[] {
    const symbol = this.checker.getSymbolAtLocation(node);
    return symbol ? (this.resolved(symbol).declarations ?? []) : [];
  }

  /** The status of `new X(…)` when X is (a subclass of) an error class with a `category`. */
  private statusOfErrorClass(expression: ts.Expression): StatusName | undefined {
    for (const declaration of this.declarationsOf(expression)) {
      if (!ts.isClassDeclaration(declaration)) continue;
      const category = this.categoryOf(declaration);
      const code = category === undefined ? undefined : this.statusOfCategory[category];
      if (code !== undefined) return STATUS_BY_CODE.get(code);
    }
    return undefined;
  }

  private categoryOf(declaration: ts.ClassDeclaration): string | undefined {
    if (this.categoryOfClass.has(declaration)) return this.categoryOfClass.get(declaration);
    this.categoryOfClass.set(declaration, undefined);
    let category: string | undefined;
    for (const member of declaration.members) {
      if (ts.isPropertyDeclaration(member) && member.name.getText() === 'category' && member.initializer) {
        const value = this.checker.getConstantValue(member.initializer as ts.PropertyAccessExpression);
        const type = this.checker.getTypeAtLocation(member.initializer);
        category = typeof value === 'string' ? value : type.isStringLiteral() ? type.value : undefined;
      }
    }
    const base = declaration.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword)?.types[0];
    if (category === undefined && base) {
      for (const d of this.declarationsOf(base.expression)) {
        if (ts.isClassDeclaration(d)) category ??= this.categoryOf(d);
      }
    }
    this.categoryOfClass.set(declaration, category);
    return category;
  }

  /** The statuses of the error classes a port's JSDoc says it throws ("Throws ConcurrencyError when …"). */
  private documentedThrows(declaration: ts.Declaration): StatusName[] {
    const text = ts
      .getJSDocCommentsAndTags(declaration)
      .map((d) => d.getText())
      .join(' ');
    // Every error class named after "Throws" (or "Rejects") in its sentence: "Throws NotFoundError, … or X".
    const names = text
      .split(/\.\s/)
      .flatMap(
        (sentence) => /\b(?:throws|rejects)\b(.*)/is.exec(sentence)?.[1]?.match(/\b\w+Error\b/g) ?? [],
      );
    const out: StatusName[] = [];
    for (const name of names) {
      for (const source of this.sources) {
        for (const statement of source.statements) {
          if (ts.isClassDeclaration(statement) && statement.name?.text === name) {
            const category = this.categoryOf(statement);
            const code = category === undefined ? undefined : this.statusOfCategory[category];
            const status = code === undefined ? undefined : STATUS_BY_CODE.get(code);
            if (status) out.push(status);
          }
        }
      }
    }
    return out;
  }
}
