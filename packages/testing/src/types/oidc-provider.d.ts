// The part of oidc-provider (ships no types) the test IdP uses; ./oidc-provider.ts narrows it further.
declare module 'oidc-provider' {
  const Provider: new (issuer: string, configuration: object) => object;
  export default Provider;
}
