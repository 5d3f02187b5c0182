/**
 * Entry of the patient's page (join.html, served at /join and /messages): reads the link token from the fragment,
 * then renders the visit page or the secure messages.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { PatientMessages } from '../messages/patient-messages';
import { JoinApp } from './join-app';
import '../visit/visit.css';

const token = location.hash.length > 1 ? decodeURIComponent(location.hash.slice(1)) : '';
// The same page serves the secure messages at /messages (the link of a "new message" notice).
const messages = location.pathname === '/messages';
// The token never stays in the address bar (or the history, or a screenshot).
if (token) history.replaceState(null, '', messages ? '/messages' : '/join');

const main = document.getElementById('main');
if (main)
  createRoot(main).render(
    <StrictMode>{messages ? <PatientMessages token={token} /> : <JoinApp token={token} />}</StrictMode>,
  );
