// Hand-written in-memory fakes of the ports, for domain and use-case tests.
export * from './estate';
export * from './keyStore';
export * from './accountStore';
export * from './journal';
export * from './access';
export * from './compliance';
export * from './deps';
