// Texts of the console's task lists, channel tags, log statistics: key → [中文, English], merged into i18n.js.

export default {
};
