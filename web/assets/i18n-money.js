// Texts of the console's redemption codes, top-up, payment gateways and orders: key → [中文, English], merged into i18n.js.

export default {
};
