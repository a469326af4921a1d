/** The example's two ways to tell a customer: the change under test moves from the first to the second. */
export async function sendLetter(name: string): Promise<string> {
  return `letter to ${name}`;
}

export async function sendEmail(name: string): Promise<string> {
  return `email to ${name}`;
}
