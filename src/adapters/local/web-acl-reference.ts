import type { RestApiStage, WebAclReference, WebAclReferenceCheck } from '../../ports.ts';

/**
 * {@link WebAclReferenceCheck} with fixed answers, for tests (the local runner and replay have no stage keeping a web
 * ACL of its own: they pass no check). An answer that is an Error is thrown, as a check that cannot tell does.
 */
export class FixedWebAclReferenceCheck implements WebAclReferenceCheck {
  readonly stages: RestApiStage[];
  /** How many times each stage (`api/stage`) was asked. */
  readonly asked = new Map<string, number>();

  constructor(private readonly answers: Record<string, WebAclReference | Error>) {
    this.stages = Object.keys(answers).map((k) => {
      const [restApiId, stageName] = k.split('/');
      return { restApiId, stageName };
    });
  }

  /** Changes a stage's answer (`api/stage`). */
  set(stage: string, answer: WebAclReference | Error): void {
    this.answers[stage] = answer;
  }

  async check(stage: RestApiStage): Promise<WebAclReference> {
    const key = `${stage.restApiId}/${stage.stageName}`;
    this.asked.set(key, (this.asked.get(key) ?? 0) + 1);
    const a = this.answers[key];
    if (a === undefined) throw new Error(`no answer for stage ${key}`);
    if (a instanceof Error) throw a;
    return a;
  }
}
