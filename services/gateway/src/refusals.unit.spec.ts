import { pathTarget, routePattern } from './refusals';

describe('how the gateway names a refused request', () => {
  it('turns ids into :id and drops the query string (no URL text reaches the event)', () => {
    expect(routePattern('POST', '/api/visits/apt-1/admit')).toBe('POST /api/visits/:id/admit');
    expect(routePattern('GET', '/api/patients/p_9?purpose=treatment')).toBe('GET /api/patients/:id');
    expect(routePattern('GET', '/api/visits')).toBe('GET /api/visits');
    expect(routePattern('GET', `/api/${'Robin%20Quillfeather'}`)).toBe('GET /api/:id');
  });

  it('names the resource of the path, or none', () => {
    expect(pathTarget('/api/visits/apt-1/admit')).toBe('visits/apt-1');
    expect(pathTarget('/api/visits/apt-1/participants/p-2/kick')).toBe('visits/apt-1/participants/p-2');
    expect(pathTarget('/api/appointments/a-1/link')).toBe('appointments/a-1');
    expect(pathTarget('/api/visits')).toBeUndefined();
    expect(pathTarget('/api/auth/login')).toBeUndefined();
    expect(pathTarget('/api/visits/has%20space')).toBeUndefined();
  });
});
