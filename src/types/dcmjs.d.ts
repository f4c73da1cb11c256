// dcmjs ships no type declarations; we type the small surface we use.
declare module 'dcmjs' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type AnyDict = Record<string, any>;
  class DicomDict {
    constructor(meta: AnyDict);
    meta: AnyDict;
    dict: AnyDict;
    write(options?: AnyDict): ArrayBuffer;
  }
  const dcmjs: {
    log: { setLevel(level: string): void; getLogger(name: string): { setLevel(level: string): void } };
    data: {
      DicomMessage: {
        readFile(buffer: ArrayBuffer, options?: AnyDict): DicomDict;
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        [key: string]: any;
      };
      DicomDict: typeof DicomDict;
      DicomMetaDictionary: {
        naturalizeDataset(dict: AnyDict): AnyDict;
        denaturalizeDataset(dataset: AnyDict): AnyDict;
        dictionary: Record<string, { tag: string; vr: string; name: string; vm: string; version: string }>;
        nameMap: Record<string, { tag: string; vr: string; name: string; vm: string; version: string }>;
        uid(): string;
        date(): string;
        time(): string;
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        [key: string]: any;
      };
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      [key: string]: any;
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    [key: string]: any;
  };
  export default dcmjs;
}
