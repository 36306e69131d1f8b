// Texts of the console's sign-up, password reset, OAuth/OIDC/passkey sign-in, bindings and passkeys in the profile: key → [中文, English], merged into i18n.js.

export default {
};
