// How the API tests read an answer: the body as text (for assertion messages) and as JSON where it is JSON, so a
// test can assert on a status whatever the body is.

export interface AnswerBody {
  text: string;
  /** The parsed body; null when it is empty or not JSON. */
  json: unknown;
}

export async function readAnswerBody(response: Response): Promise<AnswerBody> {
  const text = await response.text();
  if (text === '') return { text, json: null };
  try {
    return { text, json: JSON.parse(text) };
  } catch {
    return { text, json: null };
  }
}
