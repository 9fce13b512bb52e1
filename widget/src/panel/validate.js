/** Validation of the pre-chat and leave-a-message forms. Pure. */

export const CONTACT_FIELDS = ['name', 'phone', 'email'];

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PHONE_RE = /^\+?[0-9][0-9 ()-]{4,19}$/;

/**
 * The pre-chat form's fields from the `prechat` boot option:
 * true -> name, phone, email with name required; ['name', 'email'] -> those, none
 * required; {fields, required, title} -> as given. Unknown field names are dropped.
 */
export function prechatConfig(option) {
  if (!option) return null;
  if (option === true) return { fields: CONTACT_FIELDS.slice(), required: ['name'], title: '' };
  const source = Array.isArray(option) ? { fields: option } : option;
  const fields = (Array.isArray(source.fields) ? source.fields : CONTACT_FIELDS).filter((f) => CONTACT_FIELDS.indexOf(f) >= 0);
  if (!fields.length) return null;
  const required = (Array.isArray(source.required) ? source.required : []).filter((f) => fields.indexOf(f) >= 0);
  return { fields, required, title: typeof source.title === 'string' ? source.title : '' };
}

/** Trimmed values of the given fields. */
export function clean(values, fields) {
  const out = {};
  for (const f of fields) out[f] = String((values && values[f]) || '').trim();
  return out;
}

/** Errors by field: 'required' | 'invalid_phone' | 'invalid_email'. Empty object when valid. */
export function validateContact(values, { fields, required = [], needContact = false, body = false }) {
  const errors = {};
  for (const f of required) if (!values[f]) errors[f] = 'required';
  if (fields.indexOf('phone') >= 0 && values.phone && !PHONE_RE.test(values.phone)) errors.phone = 'invalid_phone';
  if (fields.indexOf('email') >= 0 && values.email && !EMAIL_RE.test(values.email)) errors.email = 'invalid_email';
  if (needContact && !values.phone && !values.email) errors.contact = 'contact';
  if (body && !values.body) errors.body = 'required';
  return errors;
}
