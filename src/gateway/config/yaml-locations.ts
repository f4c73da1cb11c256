import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';

export interface Location {
  line: number;
  column: number;
}

/** A parsed YAML document that can say where a path (or a key under it) sits in the text. */
export class LocatedYaml {
  readonly doc: Document;
  private readonly lines = new LineCounter();

  constructor(text: string) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: true, uniqueKeys: true });
  }

  syntaxErrors(): Array<{ message: string; location?: Location }> {
    return this.doc.errors.map((e) => ({
      message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
      location: e.linePos?.[0] ? { line: e.linePos[0].line, column: e.linePos[0].col } : undefined,
    }));
  }

  private at(offset: number): Location {
    const pos = this.lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  }

  /** Where the value at `path` starts; the nearest existing ancestor when the path does not exist. */
  locate(path: readonly PropertyKey[], key?: string): Location | undefined {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
      if (!node || typeof node !== 'object') continue;
      if (key !== undefined && n === path.length && isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
        const keyNode = pair?.key as { range?: [number, number, number] } | undefined;
        if (keyNode?.range) return this.at(keyNode.range[0]);
      }
      if (node.range) return this.at(node.range[0]);
    }
    return undefined;
  }
}
