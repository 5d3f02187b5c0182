// Stylesheets imported by components (Vite bundles them) are nothing in jest.
module.exports = {};
